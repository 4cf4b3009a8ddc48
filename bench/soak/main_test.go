package main

import "testing"

func TestParseVictims(t *testing.T) {
	if v, err := ParseVictims(" 2, 0 "); err != nil || len(v) != 2 || v[0] != 2 || v[1] != 0 {
		t.Errorf("%v, %v", v, err)
	}
	for _, bad := range []string{"", "3", "-1", "1,1", "a"} {
		if _, err := ParseVictims(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
