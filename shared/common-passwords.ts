export const COMMON_PASSWORDS: readonly string[] = ['password123'];
