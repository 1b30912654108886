package auth

import (
	"net"
	"net/netip"
)

// Authenticate checks a user's password and returns a copy of the user.
// An unknown user, a wrong password and a user without a password all give
// ErrInvalidCredentials, after the same work, so that the answer does not
// tell which users exist. A loopback-only user (guest, by default) with
// the right password is refused with ErrLoopbackOnly unless remote is a
// loopback address or a Unix socket.
func (s *Store) Authenticate(user, password string, remote net.Addr) (*User, error) {
	s.mu.RLock()
	u, ok := s.users[user]
	if ok {
		u = u.clone()
	}
	loopbackOnly := s.loopback[user]
	s.mu.RUnlock()

	if !ok || u.PasswordHash == "" {
		verify(dummyHash, SHA256, password) // spend the time a real check would
		return nil, ErrInvalidCredentials
	}
	if !verify(u.PasswordHash, u.HashingAlgorithm, password) {
		return nil, ErrInvalidCredentials
	}
	if loopbackOnly && !isLoopback(remote) {
		return nil, ErrLoopbackOnly
	}
	return u, nil
}

// isLoopback reports whether addr is a loopback IP (127.0.0.0/8, ::1, or
// an IPv4-mapped 127.x) or a Unix socket. Anything else, nil included, is
// not.
func isLoopback(addr net.Addr) bool {
	var ip net.IP
	switch a := addr.(type) {
	case nil:
		return false
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return false
		}
		return ap.Addr().Unmap().IsLoopback()
	}
	a, ok := netip.AddrFromSlice(ip)
	return ok && a.Unmap().IsLoopback()
}
