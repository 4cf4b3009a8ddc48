// Package validate is how a configuration struct's Validate method reports
// its problems: a FieldError names the bad key, relative to the struct, and
// a Check collects every problem so that one message names them all.
// Check.Merge puts a component's keys under the section it is composed in.
//
// It imports only the standard library, so that the pure core (event-time
// logic, the event generator, pkg/...) can validate its own config without
// linking the loader: internal/config reads the keys (viper, flags,
// environment) and turns FieldErrors into its *config.Error.
//
// A check that reads the file system (TLSFiles) reports a missing file as a
// problem of its key; nothing here fails otherwise.
package validate
