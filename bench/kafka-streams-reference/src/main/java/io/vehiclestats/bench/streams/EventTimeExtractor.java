package io.vehiclestats.bench.streams;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * EventTimeExtractor gives Kafka Streams the event time from the payload: the
 * value has already been deserialised into a {@link VehicleEvent}. A record
 * that did not decode gets -1, and Kafka Streams skips a record with a
 * negative timestamp (logged, and counted in the task's dropped-records
 * metric).
 */
final class EventTimeExtractor implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
        return record.value() instanceof VehicleEvent e ? e.eventTimeMs() : -1;
    }
}
