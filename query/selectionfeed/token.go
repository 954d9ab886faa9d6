package selectionfeed

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// A resume token is, in URL-safe base64 without padding: a version byte
// (1), the xxhash of the topic's name (8 bytes, little endian), the number
// of partitions (uvarint), then each partition's next offset (uvarint).

const tokenVersion = 1

// position is where a watch stands in the topic: the next offset of each
// partition.
type position struct {
	topic uint64 // xxhash of the topic's name
	next  []int64
}

func (p *position) token() string {
	b := []byte{tokenVersion}
	b = binary.LittleEndian.AppendUint64(b, p.topic)
	b = binary.AppendUvarint(b, uint64(len(p.next)))
	for _, o := range p.next {
		b = binary.AppendUvarint(b, uint64(o))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseToken reads a token of topic.
func parseToken(s, topic string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return position{}, fmt.Errorf("resume token: %w", err)
	}
	if len(b) == 0 || b[0] != tokenVersion {
		return position{}, errors.New("resume token: not a token of this version")
	}
	if len(b) < 9 {
		return position{}, errors.New("resume token: cut short")
	}
	p := position{topic: binary.LittleEndian.Uint64(b[1:9])}
	if p.topic != xxhash.Sum64String(topic) {
		return position{}, fmt.Errorf("resume token: not a token of topic %s", topic)
	}
	b = b[9:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return position{}, errors.New("resume token: bad partition count")
	}
	b = b[k:]
	p.next = make([]int64, n)
	for i := range p.next {
		o, k := binary.Uvarint(b)
		if k <= 0 || o > 1<<62 {
			return position{}, fmt.Errorf("resume token: bad offset of partition %d", i)
		}
		p.next[i], b = int64(o), b[k:]
	}
	if len(b) != 0 {
		return position{}, errors.New("resume token: trailing bytes")
	}
	return p, nil
}
