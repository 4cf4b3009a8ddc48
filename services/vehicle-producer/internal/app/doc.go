// Package app is the vehicle-producer application: its whole configuration
// (Config, Load) and its fx wiring (New), shared by main and by the tests so
// that both run the same constructors.
//
// How it fails: Load returns one *config.Error naming every bad key (main
// exits 2 on it) or config.ErrHelp after printing --help. New never panics;
// a wiring or start-up problem is the *fx.App's error.
package app
