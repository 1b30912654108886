package broker

// PartitionFor returns the partition of n that Kafka's default
// partitioner gives a record with key: murmur2 of the key, made positive,
// modulo n. Records keyed alike land together whoever produced them.
func PartitionFor(key []byte, n int32) int32 {
	if n <= 1 {
		return 0
	}
	return int32(uint32(murmur2(key))&0x7fffffff) % n
}

// murmur2 is the 32-bit MurmurHash2 variant Kafka hashes keys with (seed
// 0x9747b28c, little-endian blocks).
func murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(data))
	blocks := len(data) / 4 * 4
	for i := 0; i < blocks; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[blocks:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
