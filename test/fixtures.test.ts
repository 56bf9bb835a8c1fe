/**
 * The fixtures the tests use are copies of ../shared/fixtures, the captured bytes the protocol description is
 * checked against (docs/antenna-protocol.md#versions); they must not drift.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, SHARED_FIXTURES } from './helpers/schemas';

const copies = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
const authority = fs.existsSync(SHARED_FIXTURES);

describe('vendored Antenna fixtures', () => {
  test('there are copies to check', () => {
    expect(copies.length).toBeGreaterThanOrEqual(8);
  });

  (authority ? test.each(copies) : test.skip.each(copies))(
    authority
      ? '%s is byte-identical to ../shared/fixtures'
      : '%s (SKIPPED: ../shared/fixtures is not beside this checkout)',
    (file) => {
      expect(fs.readFileSync(path.join(FIXTURES, file))).toEqual(
        fs.readFileSync(path.join(SHARED_FIXTURES, file)),
      );
    },
  );
});
