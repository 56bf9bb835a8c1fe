import eslint from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, bottom to top (README "Project layout" draws the same picture). A module may import its
 * own folder, anything on a lower floor, and, on the ground floor only, its neighbours there; never a floor
 * above, nor a sibling on its own floor (images and models, http and worker, the entry points stay independent).
 * The ground floor is shared vocabulary that every layer needs without climbing (STYLE.md item 17).
 * `convert/` is the maintainers' tool: it may use floors 0 to 3, and only `cli/` may import it, so nothing on
 * the service path pulls in the converter.
 */
const LAYERS = [
  ['errors.ts', 'contract', 'util', 'config.ts'], // 0: error catalogue, wire types and schemas, helpers, settings
  ['tf'], //                                         1: backend choice and the native module
  ['images', 'models'], //                           2: download and decode; model files and manifests
  ['algorithms'], //                                 3: one model behind compile/run/dispose
  ['pipelines'], //                                  4: detect, crop, classify; the registry
  ['runtime'], //                                    5: the inference engine and its thread
  ['service'], //                                    6: /process logic, shared with pull mode
  ['http', 'worker'], //                             7: the Koa app; the pull-mode worker
  ['bootstrap.ts'], //                               8: wires config, registry, engine and app
  ['server.ts', 'worker-main.ts', 'cli'], //         9: entry points
];
const CONVERT = 'convert';
const CONVERT_MAY_USE_UP_TO = 3;

const src = (name) => `./src/${name}`;
const floorName = (floor) => LAYERS[floor].map((m) => `src/${m}`).join(', ');

/** One zone per module: what it must not import, and a message that says why. */
const layerZones = LAYERS.flatMap((modules, floor) =>
  modules.map((module) => {
    const above = LAYERS.slice(floor + 1).flat();
    const siblings = floor === 0 ? [] : modules.filter((m) => m !== module);
    const convert = module === 'cli' ? [] : [CONVERT];
    return {
      target: src(module),
      from: [...above, ...siblings, ...convert].map(src),
      message:
        `src/${module} is on floor ${floor} (${floorName(floor)}): it may import only ` +
        (floor === 0 ? 'its ground-floor neighbours' : 'lower floors') +
        (module === 'cli' ? '' : ', never src/convert') +
        '. Move the shared type or helper down (layers in eslint.config.mjs and README "Project layout").',
    };
  }),
);
layerZones.push({
  target: src(CONVERT),
  from: LAYERS.slice(CONVERT_MAY_USE_UP_TO + 1)
    .flat()
    .map(src),
  message: `src/convert is the maintainers' tool: it may use floors 0 to ${CONVERT_MAY_USE_UP_TO} (up to src/algorithms), not the service path.`,
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'models/**', 'samples/**', 'coverage/**', 'scratch/**', '**/*.js', '**/*.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'no-restricted-exports': ['error', { restrictDefaultExports: { direct: true } }],
    },
  },
  {
    // Layers only look down, and no import cycles (type-only imports excepted: they vanish at runtime).
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // .ts files are modules to follow (no-cycle reads each dependency's imports), resolved as tsc does.
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: `${import.meta.dirname}/tsconfig.json` }),
      ],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: layerZones }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
