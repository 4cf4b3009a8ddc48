package scratch

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		first, err := FreePorts(15)
		if err != nil {
			t.Fatal(err)
		}
		if first < 10000 || first+15 > low {
			t.Fatalf("ports %d–%d, want them within 10000–%d (below the ephemeral range)", first, first+14, low-1)
		}
		// Every one of them can be bound now.
		var ls []net.Listener
		for p := first; p < first+15; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				t.Fatalf("port %d of the range %d–%d: %v", p, first, first+14, err)
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
	}
}
