package io.vehiclestats.bench.streams;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * VehicleEventDeserializer reads a Vehicle JSON value with Jackson's
 * streaming parser and keeps the vehicle type and the event time, read as
 * the contract defines it: an RFC 3339 string (any fraction, any offset) or
 * a number (below 1e11 epoch seconds with an optional fraction, otherwise
 * epoch ms), truncated to the millisecond. A value that does not decode, or
 * lacks a plate number, a known type or a timestamp, becomes null, which
 * {@link EventTimeExtractor} turns into a negative timestamp: Kafka Streams
 * then skips the record and counts it in its dropped-records metric
 * (stats-processor sends it to its dead-letter topic instead).
 */
final class VehicleEventDeserializer implements Deserializer<VehicleEvent> {
    private static final BigDecimal SECONDS_LIMIT = BigDecimal.valueOf(100_000_000_000L);
    private final JsonFactory json = new JsonFactory();

    @Override
    public VehicleEvent deserialize(String topic, byte[] value) {
        if (value == null) {
            return null;
        }
        try (JsonParser p = json.createParser(value)) {
            return parse(p);
        } catch (IOException | RuntimeException e) {
            return null;
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
                case "vehicleType" -> type = t == JsonToken.VALUE_STRING ? vehicleType(p.getText()) : null;
                case "plateNumber" -> plate = t == JsonToken.VALUE_STRING ? p.getText() : null;
                case "timestamp" -> {
                    if (t == JsonToken.VALUE_STRING) {
                        time = OffsetDateTime.parse(p.getText(), DateTimeFormatter.ISO_OFFSET_DATE_TIME)
                                .toInstant().toEpochMilli();
                        hasTime = true;
                    } else if (t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT) {
                        time = numberMillis(p.getText());
                        hasTime = true;
                    }
                }
                default -> p.skipChildren();
            }
        }
        if (type == null || plate == null || plate.isEmpty() || !hasTime) {
            return null;
        }
        return new VehicleEvent(type, time);
    }

    /** numberMillis reads epoch seconds (below 1e11, with a fraction) or epoch ms, truncated to the ms. */
    private static long numberMillis(String text) {
        BigDecimal n = new BigDecimal(text);
        if (n.abs().compareTo(SECONDS_LIMIT) < 0) {
            n = n.movePointRight(3);
        }
        return n.setScale(0, RoundingMode.FLOOR).longValueExact();
    }

    /** vehicleType returns the interned type name, or null for an unknown one. */
    private static String vehicleType(String s) {
        return switch (s) {
            case "CAR" -> "CAR";
            case "TRUCK" -> "TRUCK";
            case "BUS" -> "BUS";
            case "VAN" -> "VAN";
            case "MOTORCYCLE" -> "MOTORCYCLE";
            default -> null;
        };
    }
}
