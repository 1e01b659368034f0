/** decodeText: the five entities of PROTOCOL.md "Content", in one pass, and nothing else. */
import t from 'tap';
import { decodeText } from '../src/client/index.js';

t.equal(decodeText('plain text'), 'plain text');
t.equal(decodeText('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'), '<img src=x onerror="alert(1)">');
t.equal(decodeText('it&#39;s &amp; more'), "it's & more");
t.equal(decodeText('&amp;lt;'), '&lt;', 'an entity a user typed stays as typed (one pass)');
t.equal(decodeText('&nbsp; &#60; &amp'), '&nbsp; &#60; &amp', 'other entities and a bare & are left alone');
