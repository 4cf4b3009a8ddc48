package app

import (
	"strings"
	"testing"
)

func TestPublicJSONHidesSASLPassword(t *testing.T) {
	c := DefaultConfig()
	c.Kafka.SASL.Mechanism, c.Kafka.SASL.Username, c.Kafka.SASL.Password = "plain", "user", "hunter2"
	b, err := c.PublicJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), `"password":"***"`) || !strings.Contains(string(b), `"username":"user"`) {
		t.Errorf("status config: %s", b)
	}
}
