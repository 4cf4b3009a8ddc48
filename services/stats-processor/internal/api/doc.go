// Package api serves GET /stats: the newest windows with their counts per
// vehicle type, read from Redis, so every instance answers alike and the
// answer survives restarts. A bad query parameter gets 400 with a JSON
// error; a Redis failure gets 503.
package api
