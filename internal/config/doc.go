// Package config loads a service's configuration struct from, in rising
// priority: the struct's own default values, a YAML file (--config PATH),
// environment variables (PREFIX + key path in upper case, "." as "_") and
// command-line flags (--key.path=value, one per key).
//
// Keys come from the struct's `mapstructure` tags, nested structs giving the
// dotted path (`kafka.brokers`), and a struct tagged `mapstructure:",squash"`
// lending its keys to the level it is on (a component whose keys sit in
// several sections, like window.* and watermark.*); a `usage` tag documents
// the key in --help. A Validate method names bad keys with
// validate.FieldErrors (validate.Check), relative to its own struct;
// Check.Merge puts them under the section the struct is composed in.
// Load reports every problem at once in one *Error: unknown keys in the YAML
// file, values that do not parse (naming the key and the environment
// variable), and whatever the struct's Validate method finds.
//
// A field tagged `secret:"true"` (a password, a token) is never shown: not
// in --help, not in an error, whatever its value. It can also be read from a
// file, for Docker and Kubernetes secrets: the key plus FileSuffix
// (kafka.sasl.password_file, PREFIX_KAFKA_SASL_PASSWORD_FILE,
// --kafka.sasl.password_file) names the file, whose content without its
// trailing line ending is the value. Giving both the value and the file at
// the same level (both in the environment, say) is an error; otherwise the
// higher level wins as for any key.
//
// A struct field tagged `mapstructure:",squash"` puts its keys beside its
// parent's (an embedded component config). A group of keys with an
// "enabled" key takes a bare value too: redis.tls: true sets
// redis.tls.enabled, so a switch can grow into a group without breaking the
// settings written for it.
//
// An environment variable with the service's prefix that sets no key is
// ignored by Load; UnknownEnv and Service.WarnUnknownEnv name it, with the
// nearest key, so that the service can warn at start (not refuse:
// Kubernetes sets <SERVICE>_PORT variables of its own). Only this
// package imports viper; everything else takes plain structs, and validates
// them with internal/validate, which imports only the standard library.
package config
