package redisconn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// LogTo sends the Redis client library's own messages (its connection
// pool's failed dials while Redis is down, Cluster redirections) to log as
// structured warnings; by default the library prints them to stderr as
// unstructured lines. The library has one logger for the whole process, so
// the last call wins.
func LogTo(log *slog.Logger) { redis.SetLogger(libLogger{log}) }

// libLogger adapts slog to the library's Printf-style logger.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
