// Package config loads a service's configuration struct from, in rising
// priority: the struct's own default values, a YAML file (--config PATH),
// environment variables (PREFIX + key path in upper case, "." as "_") and
// command-line flags (--key.path=value, one per key).
//
// Keys come from the struct's `mapstructure` tags, nested structs giving the
// dotted path (`kafka.brokers`), and a struct tagged `mapstructure:",squash"`
// lending its keys to the level it is on (a component whose keys sit in
// several sections, like window.* and watermark.*); a `usage` tag documents
// the key in --help. A Validate method names bad keys with FieldErrors
// (Check), relative to its own struct; Check.Merge puts them under the
// section the struct is composed in.
// Load reports every problem at once in one *Error: unknown keys in the YAML
// file, values that do not parse (naming the key and the environment
// variable), and whatever the struct's Validate method finds. Only this
// package imports viper; everything else takes plain structs.
package config
