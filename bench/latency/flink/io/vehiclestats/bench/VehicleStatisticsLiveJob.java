package io.vehiclestats.bench;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;

/**
 * The Flink reference job of bench/flink-reference, run live for
 * {@code make bench-latency}: the same window pipeline and output records
 * (it reuses that job's classes, so it is compiled against them), but with
 * an unbounded KafkaSource that reads a fresh topic from its beginning and
 * keeps running until stopped, and a choice of delivery for the sink.
 *
 * <p>Watermarks: forMonotonousTimestamps on the JSON {@code timestamp}, no
 * withIdleness (the live input never pauses), generated every
 * {@code --watermark-ms} (Flink's default, 200 ms).
 *
 * <p>Delivery: {@code at-least-once} (no checkpoints, as in the demo) or
 * {@code exactly-once}: a transactional KafkaSink that commits its
 * transaction when a checkpoint completes, with checkpoints every
 * {@code --checkpoint-ms}; a reader with read_committed then sees a window's
 * records only after the next checkpoint, so their latency is bound by that
 * interval.
 *
 * <p>Arguments, all {@code --name value}: brokers, input, output, group,
 * parallelism (2), window-ms (20000), watermark-ms (200), delivery
 * (at-least-once or exactly-once), checkpoint-ms (1000, exactly-once only),
 * transactional-id-prefix (the group).
 */
public final class VehicleStatisticsLiveJob {

    private VehicleStatisticsLiveJob() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            a.put(args[i].substring(2), args[i + 1]);
        }
        String brokers = require(a, "brokers");
        String input = require(a, "input");
        String output = require(a, "output");
        String group = require(a, "group");
        int parallelism = Integer.parseInt(a.getOrDefault("parallelism", "2"));
        long windowMs = Long.parseLong(a.getOrDefault("window-ms", "20000"));
        long watermarkMs = Long.parseLong(a.getOrDefault("watermark-ms", "200"));
        String delivery = a.getOrDefault("delivery", "at-least-once");
        long checkpointMs = Long.parseLong(a.getOrDefault("checkpoint-ms", "1000"));

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setRuntimeMode(RuntimeExecutionMode.STREAMING);
        env.setParallelism(parallelism);
        env.getConfig().setAutoWatermarkInterval(watermarkMs);

        KafkaSink<WindowRecord> sink;
        switch (delivery) {
            case "at-least-once":
                sink = KafkaSink.<WindowRecord>builder()
                        .setBootstrapServers(brokers)
                        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                        .setRecordSerializer(new VehicleStatisticsJob.WindowRecordSerializer(output))
                        .build();
                break;
            case "exactly-once":
                env.enableCheckpointing(checkpointMs);
                Properties producer = new Properties();
                // Under the broker's transaction.max.timeout.ms (15 min by default).
                producer.setProperty("transaction.timeout.ms", "600000");
                sink = KafkaSink.<WindowRecord>builder()
                        .setBootstrapServers(brokers)
                        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                        .setTransactionalIdPrefix(a.getOrDefault("transactional-id-prefix", group))
                        .setKafkaProducerConfig(producer)
                        .setRecordSerializer(new VehicleStatisticsJob.WindowRecordSerializer(output))
                        .build();
                break;
            default:
                throw new IllegalArgumentException("--delivery must be at-least-once or exactly-once, not " + delivery);
        }

        KafkaSource<VehicleEvent> source = KafkaSource.<VehicleEvent>builder()
                .setBootstrapServers(brokers)
                .setTopics(input)
                .setGroupId(group)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(new VehicleEventDeserializer())
                .build();
        WatermarkStrategy<VehicleEvent> watermarks = WatermarkStrategy
                .<VehicleEvent>forMonotonousTimestamps()
                .withTimestampAssigner((event, recordTimestamp) -> event.eventTimeMs);

        SingleOutputStreamOperator<WindowRecord> counts = env
                .fromSource(source, watermarks, "vehicles")
                .keyBy(event -> event.vehicleType)
                .window(TumblingEventTimeWindows.of(Duration.ofMillis(windowMs)))
                .sideOutputLateData(VehicleStatisticsJob.LATE)
                .aggregate(new VehicleStatisticsJob.CountAggregate(), new VehicleStatisticsJob.EmitWindow())
                .name("count per type and window");
        counts.getSideOutput(VehicleStatisticsJob.LATE)
                .process(new VehicleStatisticsJob.LateCounter()).name("late events").setParallelism(1)
                .sinkTo(new DiscardingSink<>());
        counts.sinkTo(sink).name("statistics");

        System.err.printf("live job: delivery %s%s, watermarks every %d ms, parallelism %d%n", delivery,
                delivery.equals("exactly-once") ? ", checkpoints every " + checkpointMs + " ms" : "", watermarkMs, parallelism);
        env.execute("vehicle-statistics (Flink reference, live)");
    }

    private static String require(Map<String, String> a, String key) {
        String v = a.get(key);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("missing --" + key);
        }
        return v;
    }
}
