package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

// ErrNotConfirmed is returned by Reset when the operator did not confirm.
var ErrNotConfirmed = errors.New("reset not confirmed; nothing was deleted")

// ResetUsage explains `stats-processor reset`.
const ResetUsage = `Usage: stats-processor reset [--dry-run] [--yes] [configuration flags]

Deletes one pipeline's state so that it starts over: every Redis key of the
pipeline (redis.key_prefix and kafka.input_topic: partition checkpoints,
partial and closed windows, the closer lease) and its Kafka consumer group
(kafka.group_id) with its committed offsets. Output, dead-letter and late
topics are left as they are. Like Kafka Streams' application reset tool, it
refuses while an instance of the pipeline still runs: stop them all first.
Afterwards, start the processor again; with kafka.start_offset=earliest it
counts the input from its beginning.

The pipeline is named by the same configuration as the processor itself
(--config, PROCESSOR_* variables, flags; see stats-processor --help).

  --dry-run   list what would be deleted, delete nothing
  --yes       do not ask for confirmation (scripts)
`

// Reset is `stats-processor reset`: args are the arguments after "reset".
// It reads the confirmation from in and reports to out.
func Reset(args, environ []string, in io.Reader, out io.Writer) error {
	var dryRun, yes bool
	var rest []string
	for _, a := range args {
		switch a {
		case "--dry-run", "-dry-run":
			dryRun = true
		case "--yes", "-yes", "-y":
			yes = true
		case "--help", "-help", "-h":
			fmt.Fprint(out, ResetUsage)
			return nil
		default:
			rest = append(rest, a)
		}
	}
	cfg, err := Load(rest, environ, out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	rdb, err := redisconn.New(cfg.Redis.Config)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store := state.NewRedisStore(rdb, state.NewKeys(cfg.Redis.KeyPrefix, cfg.Kafka.Topics.InputTopic), cfg.EventTime.Window.Size, cfg.State.Retention)
	if err := store.Ping(ctx); err != nil {
		return fmt.Errorf("redis at %s: %w; check redis.addr", cfg.Redis.Addr, err)
	}
	sec := cfg.Kafka.Topics.Security()
	dialer, err := sec.Dialer(Service, 10*time.Second)
	if err != nil {
		return err
	}
	transport, err := sec.Transport(Service, 10*time.Second)
	if err != nil {
		return err
	}
	t := topics.New(cfg.Kafka.Topics, dialer, transport)
	group := cfg.Kafka.Consumer.GroupID
	members, err := t.GroupMembers(ctx, group)
	if err != nil {
		return fmt.Errorf("%w; check kafka.brokers", err)
	}
	if members > 0 {
		return fmt.Errorf("consumer group %s still has %d member(s): stop every stats-processor instance of this pipeline, then run reset again (nothing was deleted)", group, members)
	}
	keys, err := store.PipelineKeys(ctx)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "pipeline: input topic %s, Redis %s, key prefix %s, consumer group %s\n",
		cfg.Kafka.Topics.InputTopic, cfg.Redis.Addr, cfg.Redis.KeyPrefix, group)
	fmt.Fprintf(out, "Redis keys: %d\n", len(keys))
	for i, k := range keys {
		if i == 10 {
			fmt.Fprintf(out, "  … and %d more\n", len(keys)-10)
			break
		}
		fmt.Fprintf(out, "  %s\n", k)
	}
	fmt.Fprintf(out, "consumer group: %s (and its committed offsets)\n", group)
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing was deleted")
		return nil
	}
	if !yes {
		fmt.Fprintf(out, "This deletes the pipeline's counts and positions for good. Type the input topic's name (%s) to go on: ", cfg.Kafka.Topics.InputTopic)
		line, _ := bufio.NewReader(in).ReadString('\n')
		if strings.TrimSpace(line) != cfg.Kafka.Topics.InputTopic {
			return ErrNotConfirmed
		}
	}
	// Again after the prompt: an instance may have started meanwhile.
	if members, err := t.GroupMembers(ctx, group); err != nil {
		return fmt.Errorf("%w; check kafka.brokers (nothing was deleted)", err)
	} else if members > 0 {
		return fmt.Errorf("consumer group %s has %d member(s) again: stop every stats-processor instance of this pipeline, then run reset again (nothing was deleted)", group, members)
	}
	if keys, err = store.PipelineKeys(ctx); err != nil {
		return err
	}
	n, err := store.DeleteKeys(ctx, keys)
	if err != nil {
		return err
	}
	if err := t.DeleteGroup(ctx, group); err != nil {
		return fmt.Errorf("%d Redis keys deleted, but: %w; run reset again", n, err)
	}
	fmt.Fprintf(out, "deleted %d Redis keys and consumer group %s; start the processor again (kafka.start_offset=earliest counts the input from its beginning)\n", n, group)
	return nil
}
