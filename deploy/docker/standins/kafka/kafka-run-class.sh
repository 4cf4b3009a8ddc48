#!/usr/bin/env bash
# kafka-run-class.sh of the apache/kafka stand-in: runs a class of the
# Kafka jars with the tools' logging (warnings to stderr) and
# KAFKA_HEAP_OPTS / KAFKA_OPTS, like the script of the Kafka distribution.
# shellcheck disable=SC2086 # the *_OPTS variables hold several JVM flags
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} ${KAFKA_OPTS:-} \
	-Dlog4j.configuration=file:/etc/kafka/docker/tools-log4j.properties \
	-Dlog4j2.configurationFile=/etc/kafka/docker/tools-log4j2.properties \
	-cp '/opt/kafka/libs/*' "$@"
