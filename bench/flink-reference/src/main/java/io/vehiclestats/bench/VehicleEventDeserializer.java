package io.vehiclestats.bench;

import java.io.IOException;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * VehicleEventDeserializer reads a Vehicle JSON record with Jackson's
 * streaming parser, keeping the vehicle type and the event time. A record
 * that does not decode, or lacks a plate number, a known type or a
 * timestamp, is skipped (stats-processor sends it to its dead-letter topic
 * instead).
 */
final class VehicleEventDeserializer implements KafkaRecordDeserializationSchema<VehicleEvent> {
    private static final long serialVersionUID = 1L;
    private transient JsonFactory json;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<VehicleEvent> out) {
        if (json == null) {
            json = new JsonFactory();
        }
        byte[] value = record.value();
        if (value == null) {
            return;
        }
        try (JsonParser p = json.createParser(value)) {
            VehicleEvent e = parse(p);
            if (e != null) {
                out.collect(e);
            }
        } catch (IOException | RuntimeException e) {
            // Not a Vehicle: skipped.
        }
    }

    private static VehicleEvent parse(JsonParser p) throws IOException {
        if (p.nextToken() != JsonToken.START_OBJECT) {
            return null;
        }
        String type = null;
        String plate = null;
        long time = 0;
        boolean hasTime = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken t = p.nextToken();
            switch (field) {
                case "vehicleType":
                    type = t == JsonToken.VALUE_STRING ? vehicleType(p.getText()) : null;
                    break;
                case "plateNumber":
                    plate = t == JsonToken.VALUE_STRING ? p.getText() : null;
                    break;
                case "timestamp":
                    if (t == JsonToken.VALUE_STRING) {
                        time = Rfc3339.parseMillis(p.getText());
                        hasTime = true;
                    } else if (t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT) {
                        time = Rfc3339.numberMillis(p.getText());
                        hasTime = true;
                    }
                    break;
                default:
                    p.skipChildren();
            }
        }
        if (type == null || plate == null || plate.isEmpty() || !hasTime) {
            return null;
        }
        return new VehicleEvent(type, time);
    }

    /** vehicleType returns the interned type name, or null for an unknown one. */
    private static String vehicleType(String s) {
        switch (s) {
            case "CAR": return "CAR";
            case "TRUCK": return "TRUCK";
            case "BUS": return "BUS";
            case "VAN": return "VAN";
            case "MOTORCYCLE": return "MOTORCYCLE";
            default: return null;
        }
    }

    @Override
    public TypeInformation<VehicleEvent> getProducedType() {
        return TypeInformation.of(VehicleEvent.class);
    }
}
