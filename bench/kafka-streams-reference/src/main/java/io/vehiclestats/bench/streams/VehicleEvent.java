package io.vehiclestats.bench.streams;

/**
 * VehicleEvent is what the application keeps of an input record: the vehicle
 * type and the event time in epoch milliseconds. Only the input's value
 * deserialiser makes it; it is never written to a topic.
 */
record VehicleEvent(String vehicleType, long eventTimeMs) {}
