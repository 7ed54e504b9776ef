#!/usr/bin/env node
// The `bastion` command as npm installs it (node_modules/.bin/bastion).
import { main } from './main.ts'

main(process.argv.slice(2))
