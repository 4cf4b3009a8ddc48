package io.vehiclestats.bench;

/** WindowRecord is one output record: key {@code <TYPE>:<start ms>} and the JSON value. A Flink POJO. */
public final class WindowRecord {
    public String key;
    public String value;

    public WindowRecord() {}

    public WindowRecord(String key, String value) {
        this.key = key;
        this.value = value;
    }
}
