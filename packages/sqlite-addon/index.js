// The SQLite addon for Node lines without a warning-free node:sqlite (20, 22).
// @bastion/server lists this package as an optional dependency; its engines
// field makes npm skip it on Node 24+, where the store uses node:sqlite and
// nothing is compiled.
module.exports = require('better-sqlite3')
