'use strict';

const assert = require('assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const fixtures = path.join(__dirname, 'fixtures', 'types');
const tsc = path.join(root, 'node_modules', '.bin', 'tsc');

/**
 * Type-checks the fixtures with `'ws-rs'` mapped to a declaration file.
 *
 * @param {String} declarations The declaration file `'ws-rs'` resolves to
 * @param {String[]} files The fixtures to check
 * @param {String} [module=commonjs] The `module` (and `moduleResolution`)
 *     compiler option
 * @return {Object} The `spawnSync()` result
 * @private
 */
function typeCheck(declarations, files, module = 'commonjs') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-rs-types-'));
  const config = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      esModuleInterop: true,
      module,
      moduleResolution: module === 'commonjs' ? 'node10' : module,
      target: 'es2022',
      lib: ['es2022'],
      types: ['node'],
      typeRoots: [path.join(root, 'node_modules', '@types')],
      baseUrl: dir,
      paths: { 'ws-rs': [declarations] }
    },
    files: files.map((file) => path.join(fixtures, file))
  };

  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify(config, null, 2)
  );

  try {
    return spawnSync(tsc, ['--pretty', 'false', '-p', dir], {
      encoding: 'utf8'
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const all = fs.readdirSync(fixtures).filter((file) => file.endsWith('.ts'));

describe('index.d.ts', function () {
  this.timeout(60000);

  it('type-checks programs written against @types/ws', () => {
    const { status, stdout, stderr } = typeCheck(
      path.join(root, 'index.d.ts'),
      all
    );

    assert.strictEqual(status, 0, stdout + stderr);
  });

  it('type-checks an ES module consumer (nodenext)', () => {
    const { status, stdout, stderr } = typeCheck(
      path.join(root, 'index.d.ts'),
      ['esm.mts'],
      'nodenext'
    );

    assert.strictEqual(status, 0, stdout + stderr);
  });

  it('has fixtures that are valid @types/ws programs', () => {
    //
    // `extras.ts` uses the names only ws-rs declares; every other fixture must
    // compile against @types/ws itself, which keeps the fixtures honest.
    //
    const { status, stdout, stderr } = typeCheck(
      path.join(root, 'node_modules', '@types', 'ws', 'index.d.ts'),
      all.filter((file) => file !== 'extras.ts')
    );

    assert.strictEqual(status, 0, stdout + stderr);

    const esm = typeCheck(
      path.join(root, 'node_modules', '@types', 'ws', 'index.d.mts'),
      ['esm.mts'],
      'nodenext'
    );

    assert.strictEqual(esm.status, 0, esm.stdout + esm.stderr);
  });
});
