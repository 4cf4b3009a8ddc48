// Package compose holds what docker-compose.yml at the repository root uses:
// the Prometheus configuration (prometheus/), Grafana's provisioning and
// dashboard (grafana/), and the static healthcheck binary of the service
// images (healthcheck/). docs/docker-compose.md explains the setup.
//
// It has no Go API. Its tests check, without a Docker engine, that the
// compose file, the Dockerfiles, .dockerignore and these files agree with
// each other and with the services: every environment variable compose sets
// is a key the service knows, every metric the dashboard queries is one the
// running services export (TestIntegrationDashboardMetrics, against the
// local Kafka and Redis), and `docker compose config` accepts the file when
// the compose plugin is installed.
package compose
