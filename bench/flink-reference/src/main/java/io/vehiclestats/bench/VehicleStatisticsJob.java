package io.vehiclestats.bench;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.OutputTag;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The original demo's Flink pipeline, writing our output format: the reference
 * of {@code make bench-compare}.
 *
 * <p>KafkaSource from the earliest offsets, bounded at the offsets that are the
 * latest when the job starts (the input is preloaded; at the end of the input
 * Flink emits the final watermark, which closes the last windows and ends the
 * job). forMonotonousTimestamps on the JSON {@code timestamp} with
 * {@code withIdleness}, keyBy vehicle type, 20 s tumbling event-time windows,
 * an incremental count, and a ProcessWindowFunction that adds the window
 * bounds. The sink writes key {@code <TYPE>:<window start ms>} and the value
 * {@code {"start":...,"end":...,"vehicleType":...,"count":...}} byte for byte
 * as stats-processor does; the record timestamp is the window's max timestamp
 * (end - 1 ms), as in the contract. Delivery is at-least-once and checkpointing
 * is off, as in the demo: a crash would lose or repeat output, which the
 * benchmark does not exercise.
 *
 * <p>Records that do not decode are skipped (the benchmark input has none).
 * Late events (see the docs: with withIdleness, Flink's merged watermark can
 * pass a split that was idle for a moment) go to a side output that only
 * counts and logs them; the demo drops them silently.
 *
 * <p>Arguments, all {@code --name value}: brokers, input, output, group,
 * parallelism (2), idleness-ms (2000; 0 = no withIdleness), window-ms (20000).
 */
public final class VehicleStatisticsJob {

    /** LATE carries the events the window operator finds late (their window already fired). */
    static final OutputTag<VehicleEvent> LATE = new OutputTag<>("late", TypeInformation.of(VehicleEvent.class));

    private VehicleStatisticsJob() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a = parseArgs(args);
        String brokers = require(a, "brokers");
        String input = require(a, "input");
        String output = require(a, "output");
        String group = require(a, "group");
        int parallelism = Integer.parseInt(a.getOrDefault("parallelism", "2"));
        long idlenessMs = Long.parseLong(a.getOrDefault("idleness-ms", "2000"));
        long windowMs = Long.parseLong(a.getOrDefault("window-ms", "20000"));

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setRuntimeMode(RuntimeExecutionMode.STREAMING);
        env.setParallelism(parallelism);

        KafkaSource<VehicleEvent> source = KafkaSource.<VehicleEvent>builder()
                .setBootstrapServers(brokers)
                .setTopics(input)
                .setGroupId(group)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setBounded(OffsetsInitializer.latest())
                .setDeserializer(new VehicleEventDeserializer())
                .build();

        WatermarkStrategy<VehicleEvent> watermarks = WatermarkStrategy
                .<VehicleEvent>forMonotonousTimestamps()
                .withTimestampAssigner((event, recordTimestamp) -> event.eventTimeMs);
        if (idlenessMs > 0) {
            watermarks = watermarks.withIdleness(Duration.ofMillis(idlenessMs));
        }

        SingleOutputStreamOperator<WindowRecord> counts = env
                .fromSource(source, watermarks, "vehicles")
                .keyBy(event -> event.vehicleType)
                .window(TumblingEventTimeWindows.of(Duration.ofMillis(windowMs)))
                .sideOutputLateData(LATE)
                .aggregate(new CountAggregate(), new EmitWindow())
                .name("count per type and window");

        // Not in the demo: late events are counted and logged, so that a
        // difference from the expected counts can be told apart from a bug.
        counts.getSideOutput(LATE)
                .process(new LateCounter()).name("late events").setParallelism(1)
                .sinkTo(new DiscardingSink<>());

        KafkaSink<WindowRecord> sink = KafkaSink.<WindowRecord>builder()
                .setBootstrapServers(brokers)
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .setRecordSerializer(new WindowRecordSerializer(output))
                .build();
        counts.sinkTo(sink).name("statistics");

        env.execute("vehicle-statistics (Flink reference)");
    }

    /**
     * LateCounter logs, to stderr, how many events the window operator
     * dropped as late: the first at once, then at most once a second, and the
     * total when the job ends.
     */
    static final class LateCounter extends ProcessFunction<VehicleEvent, Void> {
        private long late;
        private long loggedAt;

        @Override
        public void processElement(VehicleEvent e, Context ctx, Collector<Void> out) {
            late++;
            long now = System.currentTimeMillis();
            if (late == 1 || now - loggedAt >= 1000) {
                loggedAt = now;
                System.err.printf("late events so far: %d (latest: %s at %d)%n", late, e.vehicleType, e.eventTimeMs);
            }
        }

        @Override
        public void close() {
            System.err.printf("late events in total: %d%n", late);
        }
    }

    /** CountAggregate counts the events of one key and window. */
    static final class CountAggregate implements AggregateFunction<VehicleEvent, Long, Long> {
        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(VehicleEvent value, Long acc) {
            return acc + 1;
        }

        @Override
        public Long getResult(Long acc) {
            return acc;
        }

        @Override
        public Long merge(Long x, Long y) {
            return x + y;
        }
    }

    /** EmitWindow turns a window's count into the output record. */
    static final class EmitWindow extends ProcessWindowFunction<Long, WindowRecord, String, TimeWindow> {
        @Override
        public void process(String type, Context ctx, Iterable<Long> counts, Collector<WindowRecord> out) {
            long count = counts.iterator().next();
            TimeWindow w = ctx.window();
            StringBuilder value = new StringBuilder(96)
                    .append("{\"start\":\"");
            Rfc3339.appendMillis(value, w.getStart());
            value.append("\",\"end\":\"");
            Rfc3339.appendMillis(value, w.getEnd());
            value.append("\",\"vehicleType\":\"").append(type)
                    .append("\",\"count\":").append(count).append('}');
            out.collect(new WindowRecord(type + ":" + w.getStart(), value.toString()));
        }
    }

    /** WindowRecordSerializer writes key and value as UTF-8; the timestamp is the element's (end - 1 ms). */
    static final class WindowRecordSerializer implements KafkaRecordSerializationSchema<WindowRecord> {
        private final String topic;

        WindowRecordSerializer(String topic) {
            this.topic = topic;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(WindowRecord r, KafkaSinkContext ctx, Long timestamp) {
            return new ProducerRecord<>(topic, null, timestamp,
                    r.key.getBytes(StandardCharsets.UTF_8), r.value.getBytes(StandardCharsets.UTF_8));
        }
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
