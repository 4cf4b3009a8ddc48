// Package prometheus holds the alert rules of vehicle-stats (alerts.yml),
// which the compose Prometheus loads, and their promtool unit tests
// (alerts_test.yml). docs/operations.md is the runbook of every alert.
//
// It has no Go API. Its tests run `promtool test rules` (skipped, saying
// how to install it, when promtool is missing; make test installs Debian's
// prometheus package for it), check that docs/operations.md has a section
// for every alert, and (TestIntegrationAlertsFire) run Debian's Prometheus
// with these rules against a processor started by the test, a private Redis
// and the local Kafka, and watch alerts go pending, fire and resolve.
package prometheus
