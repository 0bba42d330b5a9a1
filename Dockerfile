# Jobs Monitor: one image, every role (choose with ROLES).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
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
