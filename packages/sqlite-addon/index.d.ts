// The better-sqlite3 module itself; @bastion/server declares the few parts it uses.
declare const betterSqlite3: unknown
export = betterSqlite3
