export { AuthService, createAccount, publicUser, type AuthServiceOptions, type AuthSchemas, type AuthStore, type LoginResult, type PublicUser, type TokenPair } from './service.js';
export { AccessTokens, bearerToken, AUDIENCE, ISSUER, ALGORITHM, type AccessClaims, type TokenSubject, type SignedToken } from './jwt.js';
export { inlineHasher, type PasswordHasher, type ScryptParams } from './hasher.js';
export { hashPassword, verifyPassword, decodeHash } from './scrypt.js';
export { newRefreshToken, hashRefreshToken, newFamilyId, isWellFormedRefreshToken } from './refresh.js';
