// Package topics is stats-processor's side of Kafka administration: the
// connection and topic configuration (the kafka.* keys other than the
// consumer's), creating the input, output, dead-letter and late topics,
// the input topic's partition count, a broker ping for /readyz, and the
// acks=all writers of the output and side records. SideWriter sizes the
// side records' writes below each topic's max.message.bytes and cuts a
// record too large for it (headers truncated, original-size).
//
// How it fails: Prepare, Refresh and Ping return Kafka's error, wrapped with
// the topic or the request; an existing topic is never an error.
package topics
