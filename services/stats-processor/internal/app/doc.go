// Package app assembles stats-processor: Config composes each component's
// own configuration under the service's keys, Load reads it (defaults, YAML
// file, environment, flags), and New wires the components with fx, the same
// way in main and in tests.
//
// How it fails: Load returns a *config.Error naming every bad key, or
// config.ErrHelp after printing --help; the application New returns fails
// start-up, naming the key to check, when Redis or Kafka does not answer
// within 25 s, and shuts down with exit code 1 when the pipeline stops on a
// fatal error.
package app
