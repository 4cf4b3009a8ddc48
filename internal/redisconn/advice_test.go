package redisconn

import (
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/config/configtest"
)

// Every key the advice names is a key of the redis section.
func TestAdviceNamesRealKeys(t *testing.T) {
	var cfg struct {
		Section Config `mapstructure:"redis"`
	}
	for _, advice := range tlsAdvice {
		configtest.Keys(t, &cfg, advice.Keys)
	}
}
