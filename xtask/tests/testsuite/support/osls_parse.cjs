// Feeds each value of a JSON array (file argv[3]) to the pinned CLI's
// variable parser (osls at argv[2]) and prints, per value, whether it
// accepts it and, if not, its message.
'use strict';
const fs = require('fs');
const path = require('path');
const parse = require(path.join(process.argv[2], 'lib/configuration/variables/parse.js'));
const values = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const out = values.map((value) => {
  try {
    parse(value);
    return { value, accepted: true };
  } catch (error) {
    return { value, accepted: false, message: String(error.message) };
  }
});
process.stdout.write(JSON.stringify(out));
