// Package redisconn turns a service's Redis settings (address, Cluster or
// not, ACL user and password, database, TLS) into a go-redis client, so that
// every service connects the same way: Config holds the keys under redis.*,
// Validate names every bad one, New builds the client.
//
// How it fails: Validate reports every problem under its key (below
// redis); New fails only when a TLS file cannot be read or parsed, naming
// the key. When Redis refuses a connection or a command for a security
// reason (its certificate is not trusted or not for the name checked, it
// wants a client certificate, it rejects the user or password, the ACL user
// lacks a permission), the client's error is a *RefusedError naming the keys
// to fix; errors.Is(err, ErrRefused) holds for it, and retrying cannot help.
package redisconn
