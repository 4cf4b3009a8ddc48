package io.vehiclestats.bench.streams;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * The traffic-camera job as Kafka Streams would have it: the Kafka Streams
 * reference of {@code make bench-compare}.
 *
 * <p>The input's values are decoded into {@link VehicleEvent}s, whose event
 * time {@link EventTimeExtractor} hands to Kafka Streams; then groupBy vehicle
 * type (a repartition topic), 20 s tumbling windows without grace
 * ({@code TimeWindows.ofSizeWithNoGrace}), count, and
 * {@code suppress(untilWindowCloses(unbounded()))}, so that each window and
 * type is written once, when the task's stream time passes the window's end.
 * Output: key {@code <TYPE>:<window start ms>}, value
 * {@code {"start":...,"end":...,"vehicleType":...,"count":...}} byte for
 * byte as stats-processor writes it, record timestamp end - 1 ms, with
 * {@code processing.guarantee=exactly_once_v2}.
 *
 * <p>Where this differs from stats-processor (docs/benchmarks-compare.md):
 * stream time is per task, the largest event time the task has seen on its
 * input (here the repartition partition that carries a type, fed by all input
 * partitions at once), not the minimum over input partitions; a record whose
 * window ended at or before that stream time is dropped as late (no grace);
 * and a window is only written when a later record reaches the same task, so
 * the last window of each task is never written on a quiet stream.
 *
 * <p>Records Kafka Streams drops (late, or without a valid event time) are
 * counted in its {@code dropped-records-total} task metric, which is logged
 * once a second and at the end as "late events so far / in total", the lines
 * bench/compare/run.sh reads for the Flink job too.
 *
 * <p>The input is preloaded, and Kafka Streams has no bounded source: with
 * {@code --input-records N} the application stops by itself once its stream
 * threads have processed 2N records (each input record once before the
 * repartition topic and once after it), so that its count of dropped records
 * is final; the benchmark waits for that.
 *
 * <p>Arguments, all {@code --name value}: brokers, input, output, app-id,
 * state-dir, threads (2), window-ms (20000), input-records (0: run until
 * stopped), session-timeout-ms (0: the client's default, 45 s; the failover
 * benchmark sets the broker's minimum, 6000, to compare with stats-processor's
 * kafka.session_timeout).
 */
public final class VehicleStatisticsStreams {
    private static final DateTimeFormatter OUT =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private VehicleStatisticsStreams() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a = parseArgs(args);
        String brokers = require(a, "brokers");
        String input = require(a, "input");
        String output = require(a, "output");
        String appId = require(a, "app-id");
        String stateDir = require(a, "state-dir");
        int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
        long windowMs = Long.parseLong(a.getOrDefault("window-ms", "20000"));
        long inputRecords = Long.parseLong(a.getOrDefault("input-records", "0"));
        int sessionTimeoutMs = Integer.parseInt(a.getOrDefault("session-timeout-ms", "0"));

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        if (sessionTimeoutMs > 0) {
            // A kill -9'd instance's tasks move once the group coordinator has
            // heard nothing of it for this long; heartbeats stay at a third.
            props.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), sessionTimeoutMs);
            props.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), sessionTimeoutMs / 3);
        }
        Files.createDirectories(Path.of(stateDir));

        KafkaStreams streams = new KafkaStreams(topology(input, output, windowMs), props);
        CountDownLatch done = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("stream thread failed: " + e);
            e.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            System.err.printf("state %s -> %s%n", before, now);
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        ScheduledExecutorService reporter = Executors.newSingleThreadScheduledExecutor();
        long[] reported = {0};
        reporter.scheduleAtFixedRate(() -> {
            long n = dropped(streams);
            if (n != reported[0]) {
                reported[0] = n;
                System.err.printf("late events so far: %d%n", n);
            }
            long processed = (long) sum(streams, "stream-thread-metrics", "process-total");
            if (inputRecords > 0 && processed >= 2 * inputRecords) {
                System.err.printf("all %d input records processed (%d records processed by the stream threads)%n",
                        inputRecords, processed);
                done.countDown();
            }
        }, 500, 500, TimeUnit.MILLISECONDS);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            reporter.shutdownNow();
            System.err.printf("late events in total: %d%n", Math.max(reported[0], dropped(streams)));
            // Leave the group at once, so that the benchmark can delete it.
            streams.close(CloseOptions.timeout(Duration.ofSeconds(20))
                    .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
        }));
        streams.start();
        done.await();
        System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0); // the hook closes the streams
    }

    /** topology is the whole job: decode, event time, group by type, window, count, suppress, write. */
    static Topology topology(String input, String output, long windowMs) {
        Serde<VehicleEvent> vehicles = Serdes.serdeFrom(
                (topic, v) -> {
                    throw new UnsupportedOperationException("VehicleEvent is never written");
                },
                new VehicleEventDeserializer());
        StreamsBuilder b = new StreamsBuilder();
        b.stream(input, Consumed.with(Serdes.ByteArray(), vehicles).withTimestampExtractor(new EventTimeExtractor()))
                .mapValues(VehicleEvent::vehicleType)
                .groupBy((plate, type) -> type, Grouped.with("by-type", Serdes.String(), Serdes.String()))
                .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMillis(windowMs)))
                .count(Materialized.with(Serdes.String(), Serdes.Long()))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                .toStream()
                .process(EmitWindow::new)
                .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    /** EmitWindow turns a closed window's count into the output record, timestamped end - 1 ms. */
    static final class EmitWindow implements Processor<Windowed<String>, Long, String, String> {
        private ProcessorContext<String, String> ctx;

        @Override
        public void init(ProcessorContext<String, String> context) {
            this.ctx = context;
        }

        @Override
        public void process(Record<Windowed<String>, Long> r) {
            String type = r.key().key();
            long start = r.key().window().start();
            long end = r.key().window().end();
            StringBuilder v = new StringBuilder(96).append("{\"start\":\"");
            OUT.formatTo(Instant.ofEpochMilli(start), v);
            v.append("\",\"end\":\"");
            OUT.formatTo(Instant.ofEpochMilli(end), v);
            v.append("\",\"vehicleType\":\"").append(type).append("\",\"count\":").append(r.value()).append('}');
            ctx.forward(new Record<>(type + ":" + start, v.toString(), end - 1));
        }
    }

    /** dropped sums the tasks' dropped-records-total: late records and records without a valid event time. */
    private static long dropped(KafkaStreams streams) {
        return (long) sum(streams, "stream-task-metrics", "dropped-records-total");
    }

    /** sum adds up the values of the metric name in group over all threads or tasks. */
    private static double sum(KafkaStreams streams, String group, String name) {
        double sum = 0;
        for (Map.Entry<MetricName, ? extends Metric> m : streams.metrics().entrySet()) {
            if (m.getKey().name().equals(name) && m.getKey().group().equals(group)
                    && m.getValue().metricValue() instanceof Number v) {
                sum += v.doubleValue();
            }
        }
        return sum;
    }

    private static Map<String, String> parseArgs(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            m.put(args[i].substring(2), args[i + 1]);
        }
        return m;
    }

    private static String require(Map<String, String> a, String key) {
        String v = a.get(key);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("missing --" + key);
        }
        return v;
    }
}
