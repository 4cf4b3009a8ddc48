package topics

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.Brokers = nil
	c.OutputTopic = c.InputTopic
	c.SASL.Mechanism = "kerberos"
	err := c.Validate()
	// Keys are relative to the component: the service puts them under kafka.
	for _, key := range []string{"brokers", "input_topic", "sasl.mechanism"} {
		if err == nil || !strings.Contains("\n"+err.Error(), "\n"+key+":") {
			t.Errorf("error lacks %s: %v", key, err)
		}
	}
}
