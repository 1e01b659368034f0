import t from 'tap';
import { liveSuite } from './helpers/live-suite.js';

liveSuite(t, 'pglite');
