package kafkasecurity

import (
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/config/configtest"
)

// Every key the advice names is a key of the kafka section.
func TestAdviceNamesRealKeys(t *testing.T) {
	var cfg struct {
		Section Connection `mapstructure:"kafka"`
	}
	for _, advice := range tlsAdvice {
		configtest.Keys(t, &cfg, advice.Keys)
	}
}
