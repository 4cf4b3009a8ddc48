package generator

// Bulgarian plates: a region code of one or two letters, four digits, and a
// series of two letters, e.g. CA1234AB for Sofia. Only the twelve Latin
// letters that look like Cyrillic ones are used (A B E K M H O P C T Y X),
// and region codes are the real ones.
const maxPlateLen = 8

// regions are the Bulgarian region codes.
var regions = [...]string{
	"A", "B", "BH", "BP", "BT", "E", "EB", "EH", "K", "KH",
	"M", "H", "OB", "P", "PA", "PB", "PK", "PP", "C", "CA",
	"CB", "CH", "CM", "CO", "CC", "CT", "T", "TX", "X", "Y",
}

// seriesLetters are the letters allowed in a plate's series.
const seriesLetters = "ABEKMHOPCTYX"

// fillPlate draws a plate from one 64-bit random number split into three
// fields (20 bits for the region, 22 for the number, 22 for the series),
// each mapped onto its range by a multiply and shift. The mapping is uniform
// to within 0.5%, which is plenty for a simulated camera.
func (g *Generator) fillPlate(e *Event) {
	u := g.rng.Uint64()
	region := regions[field(u, 0, 20, uint64(len(regions)))]
	n := copy(e.plate[:], region)
	num := field(u, 20, 22, 10000)
	e.plate[n+0] = byte('0' + num/1000)
	e.plate[n+1] = byte('0' + num/100%10)
	e.plate[n+2] = byte('0' + num/10%10)
	e.plate[n+3] = byte('0' + num%10)
	const k = uint64(len(seriesLetters))
	series := field(u, 42, 22, k*k)
	e.plate[n+4] = seriesLetters[series/k]
	e.plate[n+5] = seriesLetters[series%k]
	e.plateLen = uint8(n + 6)
}

// field maps the width bits of u starting at bit shift onto [0, n).
func field(u uint64, shift, width uint, n uint64) uint64 {
	x := (u >> shift) & (1<<width - 1)
	return (x * n) >> width
}
