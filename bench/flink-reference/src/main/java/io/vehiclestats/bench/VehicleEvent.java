package io.vehiclestats.bench;

/**
 * VehicleEvent is what the job keeps of an input record: the vehicle type
 * (the key) and the event time in epoch milliseconds. A Flink POJO (public
 * fields, no-argument constructor), so it is serialised without Kryo.
 */
public final class VehicleEvent {
    public String vehicleType;
    public long eventTimeMs;

    public VehicleEvent() {}

    public VehicleEvent(String vehicleType, long eventTimeMs) {
        this.vehicleType = vehicleType;
        this.eventTimeMs = eventTimeMs;
    }
}
