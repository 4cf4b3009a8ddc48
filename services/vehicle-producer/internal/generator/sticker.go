package generator

// stickerLen is the length of a UUID in its 8-4-4-4-12 text form.
const stickerLen = 36

const hexDigits = "0123456789abcdef"

// fillSticker writes a version 4 (random) UUID in lower-case text form from
// two 64-bit random numbers, as RFC 9562 section 5.4 lays it out: 122 random
// bits, the version nibble 4 and the variant bits 10.
func (g *Generator) fillSticker(e *Event) {
	var b [16]byte
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := e.sticker[:]
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j] = hexDigits[c>>4]
		s[j+1] = hexDigits[c&0x0f]
		j += 2
	}
}
