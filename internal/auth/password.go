package auth

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
)

// Hashing algorithms, named as in RabbitMQ's definitions.
const (
	SHA256 = "rabbit_password_hashing_sha256" // the default
	SHA512 = "rabbit_password_hashing_sha512"
	MD5    = "rabbit_password_hashing_md5" // legacy, verify only
)

// saltBytes is the salt length of RabbitMQ's password hashes.
const saltBytes = 4

// hasher returns the hash function of algorithm. The empty algorithm is
// MD5: RabbitMQ reads definitions without hashing_algorithm, which predate
// the field, as MD5 hashes.
func hasher(algorithm string) (func() hash.Hash, error) {
	switch algorithm {
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	case MD5, "":
		return md5.New, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrBadHash, algorithm)
}

// HashPassword returns password hashed as RabbitMQ's default algorithm
// does: base64(salt ++ sha256(salt ++ password)), with a random 4-byte salt.
func HashPassword(password string) string {
	var salt [saltBytes]byte
	rand.Read(salt[:]) // never fails
	return hashWithSalt(sha256.New, salt[:], password)
}

func hashWithSalt(h func() hash.Hash, salt []byte, password string) string {
	d := h()
	d.Write(salt)
	d.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(d.Sum(append([]byte(nil), salt...)))
}

// checkHash reports whether hash is a well-formed hash of algorithm.
func checkHash(hash, algorithm string) error {
	h, err := hasher(algorithm)
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(hash)
	if err != nil {
		return fmt.Errorf("%w: not base64: %v", ErrBadHash, err)
	}
	if want := saltBytes + h().Size(); len(raw) != want {
		return fmt.Errorf("%w: %d bytes for %s, want %d", ErrBadHash, len(raw), algorithm, want)
	}
	return nil
}

// verify reports whether password matches hash, comparing the digests in
// constant time. A malformed or empty hash matches nothing.
func verify(hash, algorithm, password string) bool {
	h, err := hasher(algorithm)
	if err != nil {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(hash)
	if err != nil || len(raw) != saltBytes+h().Size() {
		return false
	}
	d := h()
	d.Write(raw[:saltBytes])
	d.Write([]byte(password))
	return subtle.ConstantTimeCompare(d.Sum(nil), raw[saltBytes:]) == 1
}

// dummyHash is verified against when the user is unknown or has no
// password, so that those answers take as long as a wrong password.
var dummyHash = HashPassword("")
