'use strict';

//
// Generates a throw-away PKI with the openssl CLI: a CA, a server certificate for
// localhost/127.0.0.1, a second server certificate for another name, and a client
// certificate, all signed by the CA.
//

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const OPENSSL = process.env.OPENSSL || '/usr/bin/openssl';

/**
 * Tells whether the openssl CLI can be run.
 *
 * @return {Boolean}
 * @public
 */
function haveOpenssl() {
  try {
    execFileSync(OPENSSL, ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs openssl in `dir`.
 *
 * @param {String} dir The working directory
 * @param {String[]} args The arguments
 * @private
 */
function openssl(dir, args) {
  execFileSync(OPENSSL, args, {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe']
  });
}

/**
 * Issues a key and a certificate signed by the CA in `dir`.
 *
 * @param {String} dir The working directory holding `ca.key`/`ca.crt`
 * @param {String} name The file name stem
 * @param {String} subject The subject
 * @param {String} extensions The X.509v3 extension lines
 * @private
 */
function issue(dir, name, subject, extensions) {
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`
  ]);
}

/**
 * Creates the PKI in a new temporary directory.
 *
 * @return {Object} `{ dir, ca, server: { key, cert }, other: { key, cert },
 *     client: { key, cert } }` (PEM Buffers), `dir` to remove afterwards
 * @public
 */
function generate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-rs-tls-'));
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-sha256',
    '-subj',
    '/CN=ws-rs test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign'
  ]);
  issue(
    dir,
    'server',
    '/CN=localhost',
    'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' +
      'subjectAltName=DNS:localhost,IP:127.0.0.1\n'
  );
  issue(
    dir,
    'other',
    '/CN=other.example',
    'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' +
      'subjectAltName=DNS:other.example\n'
  );
  issue(
    dir,
    'client',
    '/CN=ws-rs test client',
    'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'
  );
  const read = (file) => fs.readFileSync(path.join(dir, file));
  const pair = (name) => ({
    key: read(`${name}.key`),
    cert: read(`${name}.crt`)
  });
  return {
    dir,
    ca: read('ca.crt'),
    server: pair('server'),
    other: pair('other'),
    client: pair('client')
  };
}

module.exports = { generate, haveOpenssl };
