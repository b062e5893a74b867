'use strict';

//
// The only module that loads the addon: every other module requires `./native`.
//
module.exports = require('../binding.js');
