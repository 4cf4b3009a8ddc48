// Command measure is the measuring side of `make bench-compare`
// (bench/compare/run.sh drives it; docs/benchmarks-compare.md explains the
// figures):
//
//	measure run     start a command, watch its output topic until every expected
//	                window record is there (or until it exits), and write its
//	                wall time, time to first record, peak RSS and CPU time
//	measure verify  compare the records each system wrote with the expected ones
//	                and with each other
//	measure report  print the comparison table and write it into the docs
//	measure topics  create topics
//	measure cleanup delete a run's topics, consumer groups and Redis keys
//	measure freeport print a free TCP port on 127.0.0.1
//
// Each subcommand prints its usage with -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: measure run|verify|report|topics|cleanup|freeport [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string) error{
		"run": runCmd, "verify": verifyCmd, "report": reportCmd, "topics": topicsCmd, "cleanup": cleanupCmd, "freeport": freeportCmd,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "measure: unknown subcommand %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := cmd(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "measure %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// topicsCmd creates the named topics and waits until each partition has a leader.
func topicsCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("topics", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	partitions := fs.Int("partitions", 1, "partitions of each topic")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("name the topics to create")
	}
	c := &kafka.Client{Addr: kafka.TCP(strings.Split(*brokers, ",")...), Timeout: 30 * time.Second}
	var topics []kafka.TopicConfig
	for _, name := range fs.Args() {
		topics = append(topics, kafka.TopicConfig{Topic: name, NumPartitions: *partitions, ReplicationFactor: 1})
	}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return err
	}
	var errs []error
	for name, err := range resp.Errors {
		if err != nil {
			errs = append(errs, fmt.Errorf("create %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: fs.Args()})
		if err == nil && len(md.Topics) == fs.NArg() {
			ready := true
			for _, t := range md.Topics {
				ready = ready && t.Error == nil && len(t.Partitions) == *partitions
				for _, p := range t.Partitions {
					ready = ready && p.Error == nil && p.Leader.ID >= 0
				}
			}
			if ready {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("created topics have no leaders after 30s")
}

// cleanupCmd deletes what a benchmark run left behind: topics, consumer
// groups, and the Redis keys under a prefix. Missing ones are fine.
func cleanupCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	topics := fs.String("topics", "", "topics to delete, comma-separated")
	topicPrefixes := fs.String("topic-prefixes", "", "also delete the topics whose names start with one of these, comma-separated (Kafka Streams' internal topics)")
	groups := fs.String("groups", "", "consumer groups to delete, comma-separated")
	redisAddr := fs.String("redis-addr", "127.0.0.1:16379", "Redis host:port")
	prefixes := fs.String("redis-prefix", "", "delete the Redis keys that start with one of these prefixes (comma-separated) and a colon")
	_ = fs.Parse(args)
	c := &kafka.Client{Addr: kafka.TCP(strings.Split(*brokers, ",")...), Timeout: 30 * time.Second}
	var errs []error
	names := split(*topics)
	if prefixes := split(*topicPrefixes); len(prefixes) > 0 {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			errs = append(errs, fmt.Errorf("list topics: %w", err))
		} else {
			for _, t := range md.Topics {
				for _, p := range prefixes {
					if strings.HasPrefix(t.Name, p) {
						names = append(names, t.Name)
						break
					}
				}
			}
		}
	}
	if len(names) > 0 {
		resp, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete topics: %w", err))
		} else {
			for name, err := range resp.Errors {
				if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
					errs = append(errs, fmt.Errorf("delete topic %s: %w", name, err))
				}
			}
		}
	}
	if ids := split(*groups); len(ids) > 0 {
		resp, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: ids})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete groups: %w", err))
		} else {
			for id, err := range resp.Errors {
				if err != nil && !errors.Is(err, kafka.GroupIdNotFound) {
					errs = append(errs, fmt.Errorf("delete group %s: %w", id, err))
				}
			}
		}
	}
	for _, prefix := range split(*prefixes) {
		if err := redisClean(ctx, *redisAddr, prefix); err != nil {
			errs = append(errs, fmt.Errorf("redis keys %s:*: %w", prefix, err))
		}
	}
	return errors.Join(errs...)
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func redisClean(ctx context.Context, addr, prefix string) error {
	if strings.ContainsAny(prefix, "*?[]\\") {
		return errors.New("the prefix must not contain glob characters")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
