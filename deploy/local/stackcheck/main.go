// Command stackcheck waits until a Kafka broker answers a metadata request
// through kafka-go, the client the services use, so "ready" means ready for
// them and not merely "the port is open". deploy/local/stack.sh runs it.
//
//	stackcheck kafka -brokers 127.0.0.1:19092 -timeout 120s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "kafka" {
		fmt.Fprintln(os.Stderr, "usage: stackcheck kafka -brokers HOST:PORT[,HOST:PORT] -timeout 120s")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("kafka", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:19092", "comma-separated broker addresses")
	timeout := fs.Duration("timeout", 120*time.Second, "how long to wait")
	_ = fs.Parse(os.Args[2:])

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := waitKafka(ctx, strings.Split(*brokers, ",")); err != nil {
		fmt.Fprintf(os.Stderr, "stackcheck: Kafka at %s is not ready after %s: %v\n", *brokers, *timeout, err)
		os.Exit(1)
	}
}

func waitKafka(ctx context.Context, brokers []string) error {
	start := time.Now()
	lastReport := start
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	for {
		resp, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		if err == nil && resp.Controller.ID >= 0 && len(resp.Brokers) > 0 {
			fmt.Fprintf(os.Stderr, "stackcheck: Kafka ready after %.1f s (%d broker(s), controller %d)\n",
				time.Since(start).Seconds(), len(resp.Brokers), resp.Controller.ID)
			return nil
		}
		if err == nil {
			err = errors.New("no controller elected yet")
		}
		var opErr *net.OpError
		if time.Since(lastReport) >= 5*time.Second {
			reason := err.Error()
			if errors.As(err, &opErr) {
				reason = "broker not listening yet"
			}
			fmt.Fprintf(os.Stderr, "stackcheck: waiting for Kafka (%.0f s): %s\n", time.Since(start).Seconds(), reason)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}
