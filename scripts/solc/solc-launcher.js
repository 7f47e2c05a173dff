#!/usr/bin/env node
// A stand-in for the native `solc` executable, backed by solc-js from node_modules.
//
// No registry reachable from our machines ships a native solc, but py-solc-x (ape-solidity), forge
// and slither only ever call a compiler as `solc --version` and `solc --standard-json [path flags]`.
// This launcher answers exactly those two forms. Set FITMINT_NATIVE_SOLC=/path/to/solc to hand every
// call to a native compiler instead.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const args = process.argv.slice(2);

function die(message, code = 1) {
  fs.writeSync(2, `solc-launcher: ${message}\n`);
  process.exit(code);
}

// fs.writeSync loops until every byte is out: process.stdout.write followed by process.exit truncates
// piped output at 64 KiB, and compiler output is often megabytes.
function writeAll(fd, text) {
  const buffer = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(fd, buffer, offset, buffer.length - offset);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
    }
  }
}

if (process.env.FITMINT_NATIVE_SOLC) {
  const result = spawnSync(process.env.FITMINT_NATIVE_SOLC, args, { stdio: 'inherit' });
  if (result.error) die(`cannot run FITMINT_NATIVE_SOLC: ${result.error.message}`);
  process.exit(result.status === null ? 1 : result.status);
}

function loadSolc() {
  const searchFrom = [process.cwd(), path.resolve(__dirname, '..', '..')];
  try {
    return require(require.resolve('solc', { paths: searchFrom }));
  } catch (err) {
    die('solc-js is not installed: run `npm ci` in the project root (or `make deps`).');
  }
}

function parseArgs(argv) {
  const options = { version: false, standardJson: false, roots: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inlineValue] = arg.includes('=') ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => (inlineValue !== undefined ? inlineValue : argv[++i]);
    switch (flag) {
      case '--version':
      case '-v':
        options.version = true;
        break;
      case '--standard-json':
        options.standardJson = true;
        break;
      case '--base-path':
      case '--include-path':
        options.roots.push(value());
        break;
      case '--allow-paths':
        value().split(',').filter(Boolean).forEach((p) => options.roots.push(p));
        break;
      case '--pretty-json':
      case '--no-color':
        break;
      default:
        die(`unsupported argument "${arg}": only --version and --standard-json are handled by solc-js`);
    }
  }
  return options;
}

function importResolver(roots) {
  const searchRoots = [...roots, process.cwd()].map((root) => path.resolve(root));
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : searchRoots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      }
    }
    return { error: `File not found: ${importPath} (searched ${searchRoots.join(', ')})` };
  };
}

const options = parseArgs(args);
const solc = loadSolc();

if (options.version) {
  writeAll(1, `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!options.standardJson) die('nothing to do: pass --version or --standard-json');

const input = fs.readFileSync(0, 'utf8');
const output = solc.compile(input, { import: importResolver(options.roots) });
writeAll(1, output);
process.exit(0);
