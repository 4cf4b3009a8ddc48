package io.vehiclestats.bench;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** Rfc3339 reads event times as the contract defines them and writes window bounds as our output does. */
final class Rfc3339 {
    private static final DateTimeFormatter OUT =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);
    private static final BigDecimal SECONDS_LIMIT = BigDecimal.valueOf(100_000_000_000L);

    private Rfc3339() {}

    /** parseMillis reads an RFC 3339 date-time (any fraction, any offset) as epoch ms, truncated toward the past. */
    static long parseMillis(String text) {
        // ISO_OFFSET_DATE_TIME takes 0 to 9 fraction digits and Z or +hh:mm.
        return OffsetDateTime.parse(text, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant().toEpochMilli();
    }

    /**
     * numberMillis reads a JSON number: below 1e11 it is epoch seconds with an
     * optional fraction (Jackson's default for an Instant), otherwise epoch ms.
     */
    static long numberMillis(String text) {
        BigDecimal n = new BigDecimal(text);
        if (n.abs().compareTo(SECONDS_LIMIT) < 0) {
            n = n.movePointRight(3);
        }
        return n.setScale(0, RoundingMode.FLOOR).longValueExact();
    }

    /** appendMillis writes epoch ms as 2026-11-21T23:45:00.000Z. */
    static void appendMillis(StringBuilder sb, long ms) {
        OUT.formatTo(Instant.ofEpochMilli(ms), sb);
    }
}
